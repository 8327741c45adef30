"""gan-lab: CNN, Transformer and combined GANs on MNIST, and a study of self-attention."""
