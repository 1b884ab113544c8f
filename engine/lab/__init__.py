"""The controlled lab: a synthetic task family and a scripted teacher on the OpenAI protocol.

On the machines people first start Distillab on, a 135M student solves nothing of a real
benchmark, so no paradigm's effect can show. The lab gives a problem family whose
difficulty is a dial (``arith``: multi-step arithmetic word problems in the GSM8K
shape) and a teacher that is always right, or wrong at a set rate in a set style,
served over HTTP on loopback so the real client, cache, budget, audit and resume run.

Modules: ``arith`` (the family and its generator), ``chain`` (reading step chains and
finding the first wrong step), ``mistakes`` (realistic slips), ``why`` (the open-ended
"explain why this total is right" family for REER), ``protocol`` (which request a prompt
is), ``scripted`` (the teacher's answers), ``tokens`` (counts with the embedded
student's tokenizer), ``server`` (the HTTP server), ``launch`` (starting it for a run),
``cli`` (``distillab lab make | teacher``). See docs/lab.md. Lab results check pipelines
and compare methods under control; they are not evidence about real teachers or tasks.
"""
