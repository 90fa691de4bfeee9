"""One serving class per endpoint family; routes call them and render what they return."""
