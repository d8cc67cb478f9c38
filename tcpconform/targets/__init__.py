"""What a run talks to: the :class:`~tcpconform.targets.base.Target` protocol and its adapters (the
reference responder in this process, a service on a device, an agent on a wire)."""
