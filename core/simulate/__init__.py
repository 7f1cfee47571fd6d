"""Scene simulator: realistic L1C products with known truth, for every accuracy claim."""
