"""The pure PyTorch modules of ROC: no spaCy or thinc imports, no state carried
between calls. Importing `spacy_roc.layers` stays light; the modules import torch and
are imported where they are used (the thinc layer in `spacy_roc.model`)."""
