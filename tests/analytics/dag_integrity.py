"""What a DAG folder's files do when Airflow parses them, as JSON: import errors, each DAG's tasks
and their retries, and any IO done at the top level of a DAG file (files opened other than Python
sources, directories listed, processes started, sockets connected). Run with the Airflow
environment's Python: dag_integrity.py <dags folder>."""

import importlib.util
import json
import sys
from pathlib import Path

from airflow.dag_processing.dagbag import DagBag

folder = Path(sys.argv[1])
# As Airflow's DAG processor does for a DAG bundle (BundleDagBag): the folder is importable, so a
# DAG file may import what the DAGs share (tickflow_ops.dag_defaults).
sys.path.append(str(folder))
bag = DagBag(dag_folder=str(folder))  # also loads whatever Airflow itself reads lazily
report = {
    "import_errors": {str(k): v for k, v in bag.import_errors.items()},
    "dags": {dag_id: {"file": Path(dag.fileloc).name, "retries": {t.task_id: t.retries for t in dag.tasks}}
             for dag_id, dag in bag.dags.items()},
    "io": {},
}

current = None
WATCHED = {"open", "os.listdir", "os.scandir", "subprocess.Popen", "socket.connect", "shutil.copyfile", "os.remove"}


def audit(event, arguments):
    if current is None or event not in WATCHED:
        return
    if event == "open" and str(arguments[0]).endswith((".py", ".pyc")):
        return  # importing modules
    report["io"].setdefault(current.name, []).append(f"{event} {arguments[0]!r}"[:200])


sys.addaudithook(audit)
for path in sorted(folder.glob("*.py")):
    spec = importlib.util.spec_from_file_location(f"integrity_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    current = path
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # an import error is reported by the DagBag above
        report["io"].setdefault(path.name, []).append(f"raised {error!r}"[:200])
    current = None
print("DAG-INTEGRITY " + json.dumps(report))
