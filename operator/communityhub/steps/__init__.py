"""The effects of a pass: one module per delivery step (:mod:`communityhub.reconcile` runs them in the order of
the delivery flow), the meter, the guards' notices, and the FleetRollout's labelling. Each step reads the
pure decisions below it and acts through the adapters."""
