"""Gene and compound knowledge: what vcbench knows about a perturbation's targets.

Below the models in the layering (it imports nothing above ``vcbench.errors``):

- ``annotations``: the human gene annotations shipped in the package (org.Hs.eg.db / GO.db 3.16.0);
- ``harmonize``: gene names (symbols, aliases, Ensembl and Entrez IDs) to current symbols;
- ``go_graph``: GEARS's GO-Jaccard gene graph;
- ``go_embedding``: the dense IDF-weighted, SVD-reduced GO embedding of every annotated gene;
- ``compounds``: Morgan fingerprints from SMILES (optional extra ``vcbench[chem]``);
- ``tables``: user embedding tables (parquet, CSV, the seed paper's torch-saved ``.pt`` dicts);
- ``featurize``: the one perturbation featuriser every embedding model uses.

See docs/representations.md.
"""
