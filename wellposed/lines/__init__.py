"""The evaluation lines: exact closed forms, scipy quadrature, torch Monte Carlo, and the facade."""
