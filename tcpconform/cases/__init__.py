"""The case format: case files (YAML, schema-checked) become :class:`~tcpconform.cases.model.TestCase`
objects, every step traceable to its ``file:line``.  Reading order: :mod:`.model` (what a case is),
:mod:`.values` and :mod:`.notation` (the compact segment notation), :mod:`.document` (positions and
errors), :mod:`.build` (one builder per step kind), :mod:`.matrix` (the state x event table),
:mod:`.load` (files in, cases out, through :mod:`.cache`)."""
