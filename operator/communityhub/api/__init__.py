"""The contract: the CRDs' models (the single source of truth), the annotations billing reads, conditions and
quantities. Imports nothing else of the operator."""
