"""MLflow "model from code" file of the fitted causalPIMA model (see :mod:`causal_pima.mlflow_model`).

MLflow copies this file into the logged model and runs it on load; it only names the pyfunc class.
"""

import mlflow

from causal_pima.mlflow_model import CausalPIMAPyfunc

mlflow.models.set_model(CausalPIMAPyfunc())
