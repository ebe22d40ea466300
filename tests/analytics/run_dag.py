"""Runs one DAG with `dag.test()` (no scheduler; the metadata database in AIRFLOW_HOME) and prints
the run as JSON: its state, each task's state and each task's return value. Run with the Airflow
environment's Python: run_dag.py <dags folder> <dag id> <logical date> [run conf as JSON]."""

import json
import sys
from datetime import datetime

from airflow.dag_processing.dagbag import DagBag
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

folder, dag_id, logical_date = sys.argv[1:4]
conf = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
sys.path.append(folder)  # as Airflow's DAG processor does for a DAG bundle (BundleDagBag)
bag = DagBag(dag_folder=folder)
assert not bag.import_errors, bag.import_errors
dag = bag.dags[dag_id]
for task in dag.tasks:
    task.retries = 0  # a failure shows at once instead of after the retry delay
run = dag.test(logical_date=datetime.fromisoformat(logical_date), run_conf=conf)
with create_session() as session:
    tasks = {ti.task_id: ti.state for ti in run.get_task_instances(session=session)}
    values = {x.task_id: XComModel.deserialize_value(x) for x in session.query(XComModel).filter(
        XComModel.dag_id == dag_id, XComModel.run_id == run.run_id, XComModel.key == "return_value")}
print("DAG-RUN-RESULT " + json.dumps({"state": run.state, "tasks": tasks, "returned": values,
                                      "data_interval": [str(run.data_interval_start), str(run.data_interval_end)]},
                                     default=str))
