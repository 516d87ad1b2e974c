"""The triggerer: runs deferred tasks' triggers on one asyncio loop and resumes the tasks."""
