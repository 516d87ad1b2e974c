"""Executors: getting each task attempt into its own OS process and reporting how it ended.

An executor never decides task state; the task process records its own outcome and the
scheduler handles processes that died without recording one.
"""
