"""The thinc side of the ROC model: `spacy_roc.ROCModel` and its registered
sub-layers (text and image encoders, pair encoders), the featurizer that turns docs
into arrays, and the typed markers. The torch modules are in `spacy_roc.layers`."""
