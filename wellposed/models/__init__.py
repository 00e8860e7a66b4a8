"""Models: App. C.2 networks, pPCA, variance policies, observation densities, validation."""
