from django.apps import AppConfig

from workspaces.runs import register


class ExecutionsConfig(AppConfig):
    name = "executions"

    def ready(self):
        # The lower apps ask about runs through this port (they never import executions).
        # Both import models: only possible once the apps are loaded.
        from django_q.signals import post_spawn

        from executions.tasks import on_worker_spawn
        from executions.workspace_runs import ExecutionsRuns

        register(ExecutionsRuns())
        post_spawn.connect(on_worker_spawn, dispatch_uid="iac-reap-on-spawn")
