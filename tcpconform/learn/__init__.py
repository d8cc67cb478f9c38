"""Learning the target's TCP as a Mealy machine from the wire (``tcpconform learn``).

:mod:`.mapper` is the alphabet and the mapping between letters and segments, :mod:`.sul` the
target over a link as AALpy's system under learning, :mod:`.machine` the learning (AALpy's L*),
the machine as data and DOT, and the shortest input sequence two machines answer differently;
:mod:`.export` writes that sequence as a case file.
"""
