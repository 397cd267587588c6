"""Indexing jobs: the job store (in memory or Redis), the task runner, and the queues that run tasks (Celery on
Redis when one is configured, a thread pool in-process otherwise).

store: jobs, tasks and their outcomes, and the `JobStore` contract; redis_store: that contract on Redis;
tasks: running one task safely under at-least-once delivery; queue: the in-process queue and `JobService`;
celery_queue: the same tasks on Celery workers.
"""
