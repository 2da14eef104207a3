"""Binary drift: verdicts (is the exec'd file image content?), policy (what to do), alerts.

``verdict`` decides from the overlay layers and the event fd, ``policy`` maps a verdict in its
context to an action, ``detector`` turns decisions into alerts. The sensor wires them to the
fanotify source (design docs/…/drift-and-sensor.md §1-2).
"""
