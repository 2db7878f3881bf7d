"""REST resources under /services/data/vXX.X/, one module per family of resources."""
