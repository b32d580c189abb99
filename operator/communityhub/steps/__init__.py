"""One module per delivery step; :mod:`communityhub.reconcile` runs them in the order of the delivery flow."""
