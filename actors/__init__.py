"""pykka actors: the concurrent shell around the engine's pure logic."""
