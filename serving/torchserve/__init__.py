"""Runtime 2: a TorchServe handler over the predictor core, packaged for KServe's pytorch runtime."""
