"""The aerender simulator: aerender's command line, log and exit codes, rendered with ffmpeg.

`agent.simulator.main` is the entry point and `agent.simulator.faults` lists the failure
modes it can reproduce.
"""
