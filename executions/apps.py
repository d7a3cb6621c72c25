from django.apps import AppConfig


class ExecutionsConfig(AppConfig):
    name = "executions"

    def ready(self):
        # The lower apps ask about runs through this port (they never import executions).
        from executions.workspace_runs import ExecutionsRuns  # models must be loaded first
        from workspaces.runs import register

        register(ExecutionsRuns())
