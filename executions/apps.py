from django.apps import AppConfig

from workspaces.runs import register


class ExecutionsConfig(AppConfig):
    name = "executions"

    def ready(self):
        # The lower apps ask about runs through this port (they never import executions).
        from executions.workspace_runs import ExecutionsRuns  # imports models: only once apps are loaded

        register(ExecutionsRuns())
