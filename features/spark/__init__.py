"""The ``--engine spark`` data path: the same validation and features, on a Spark cluster.

- :mod:`features.spark.session`: starting the SparkSession with the settings results
  depend on;
- :mod:`features.spark.raw`: the raw tables as Spark DataFrames, where they lie;
- :mod:`features.spark.validation`: the contract's rules on Spark (the pandas engine's
  report, rule for rule);
- :mod:`features.spark.buckets`: the registry laid out by family partition, by Python
  tasks;
- :mod:`features.spark.features`: the pandas engine's per-partition function, distributed;
- :mod:`features.spark.record`: ``validate --record`` / ``--validated``: validate once,
  then build.

pyspark is imported inside the functions that need it, so importing this package does
not need Spark installed. The package exports nothing itself, on purpose: every CLI start
imports :mod:`features.spark.session` (for the ``--spark-master`` default), and an
``__init__`` that imported the feature engine would load pandas and the engine with it
(``earlyrisk --help`` stays fast). Import from the submodules.
"""
