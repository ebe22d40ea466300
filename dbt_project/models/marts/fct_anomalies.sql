select * from {{ ref('int_anomalies__deduplicated') }}
