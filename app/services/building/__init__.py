"""Building: background rebuilds, model selection and evaluation, the demo shop."""
