"""Rating math: pure functions on arrays, no files, clocks or databases.

"Classic" here and elsewhere means the aesthetic scorer tastemaker grew from (Chris
Goringe's aesthetic_ab_scorer and its training scripts), whose numbers are kept exactly.
"""
