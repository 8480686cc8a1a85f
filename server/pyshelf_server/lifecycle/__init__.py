"""Release lifecycle: yanking (PEP 592) hosted and inherited releases, the minimum release age
that holds new releases back, and provenance (PEP 740) of uploaded files."""
