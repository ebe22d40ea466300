"""What the tickflow DAGs do, as plain functions: building and checking the marts, compacting the
lake, backfilling klines. The DAG files next to this package only schedule these; tests call
them directly, without Airflow."""
