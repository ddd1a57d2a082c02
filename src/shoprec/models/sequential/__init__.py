"""The SASRec-style sequential model: ``network`` (Keras), ``loss``, ``model`` (fitting, the
``SASRec`` class), ``recommender`` (the ``Recommender``, NumPy only: importing it does not
load TensorFlow) and ``export`` (the SavedModel for TF Serving)."""
