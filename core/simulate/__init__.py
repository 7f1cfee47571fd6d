"""Scene simulator: realistic L1C products with known truth (the truth machine of every accuracy claim)."""
