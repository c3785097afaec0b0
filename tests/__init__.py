"""ksi's tests; a package so that the doubles (tests.fakeworld) and shared fixtures import by name."""
