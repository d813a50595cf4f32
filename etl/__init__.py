"""The lecture's cloud data path, local by default and on AWS by configuration.

- `aws`: where S3 and the Glue Data Catalog are (the local moto server, or AWS), clients with
  timeouts, and one-line errors.
- `storage`: `s3://bucket/key` addresses, copying and listing objects, reading them as files.
- `catalog`: the Glue Data Catalog (databases, tables with columns, location and format).
- `crawler`: a Glue-style crawler: classify CSV files, infer column types, register the table.
- `predicate`: a filter written as SQL text, parsed (sqlglot) and accepted only as a typed
  boolean expression over known columns; compiled to DuckDB, Spark or DynamoDB expressions.
- `jobs`: the ETL job (read a catalog table, filter, write CSV or Parquet, register the output)
  on DuckDB (embedded) or Apache Spark.
- `dynamo_import`: DynamoDB's "Import from S3" (ImportTable, or the same effect) and a Scan
  with a filter over the imported table.

`etl` imports `backends` and `models`, never `bench`.
"""
