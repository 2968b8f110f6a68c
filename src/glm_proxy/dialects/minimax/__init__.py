"""The MiniMax-M2 dialect (``<minimax:tool_call>``): ``parser`` reads it, ``render`` writes it."""
