"""Training and releasing models: the classifier and detector loops, INT8, TFLite init, model cards."""
