"""The core between the backend and the fronts: ``plan`` reads a request once, ``session``
drives a dialect parser per choice of the answer and numbers its calls."""
