"""MLflow "models from code" entry point of the registered risk model.

MLflow copies this file into the logged model and runs it when a generic client calls
``mlflow.pyfunc.load_model``; it names the pyfunc wrapper (defined in
:mod:`training.registry`) instead of pickling an object, so loading a model never
unpickles code. The wrapper then reads the plain JSON ``risk_model.json`` artifact.
"""

from mlflow.models import set_model

from training.registry import RiskModelPyfunc

set_model(RiskModelPyfunc())
