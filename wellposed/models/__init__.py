"""Models: App. C.2 networks, pPCA, variance policies, observation densities, validation,
and the model protocol that lets any torch module pair be evaluated (models.protocol)."""
