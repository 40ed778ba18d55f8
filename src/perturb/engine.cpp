// placeholder until the perturbation engine lands
