"""Great Expectations suites (one module per validated table) and the gate that runs them."""
