# Fusion (early concatenation, intermediate multi-branch network, late fusion of out-of-fold
# probabilities); the fusion configurations are named in config (fusion:).
