"""Neural ODE models: ODE blocks and networks, normalising flows, CNFs and latent ODEs."""
