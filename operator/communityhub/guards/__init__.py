"""Fleet guards: decisions about money and lifecycle, pure, each returning what a condition says."""
