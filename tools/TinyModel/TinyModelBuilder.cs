namespace LlamaGateway.Tools.TinyModel;

/// <summary>
/// Assembles the metadata and tensor list of a random-weight llama model around a real tokenizer.
/// </summary>
internal sealed class TinyModelBuilder
{
    /// <summary>Bumped whenever the bytes generated for the same arguments change; recorded in the file.</summary>
    public const string GeneratorVersion = "1";

    // Qwen2.5-Instruct's end-of-turn token. Chat completions must stop on it, and the vocab-only file we copy from
    // carries the base model's <|endoftext|> (151643) as EOS instead.
    private const long ImEndTokenId = 151645;
    private const string ImEndToken = "<|im_end|>";

    // Small enough that activations stay O(1) through a few layers without any training, as in GPT-2's init.
    private const double WeightStd = 0.02;
    private const float RmsNormEpsilon = 1e-6f;

    // Qwen2's RoPE base; with a 128K training context a small base would alias positions badly.
    private const float RopeFreqBase = 1_000_000f;
    private const uint Alignment = 32;

    private const uint FileTypeAllF32 = 0;
    private const uint FileTypeMostlyF16 = 1;

    private readonly ModelShape _shape;
    private readonly GgufMetadata _vocab;
    private readonly ulong _seed;
    private readonly GgmlType _type;

    public TinyModelBuilder(ModelShape shape, GgufMetadata vocab, ulong seed, GgmlType type)
    {
        shape.Validate();
        _shape = shape;
        _vocab = vocab;
        _seed = seed;
        _type = type;
    }

    /// <summary>Number of tokens in the copied vocabulary; the embedding table has exactly this many rows.</summary>
    public int VocabSize => Tokens.Length;

    private string[] Tokens => _vocab.Get("tokenizer.ggml.tokens").Payload as string[]
        ?? throw new InvalidDataException("tokenizer.ggml.tokens is not an array of strings.");

    public GgufMetadata BuildMetadata()
    {
        string[] tokens = Tokens;
        if (tokens.Length <= ImEndTokenId || tokens[ImEndTokenId] != ImEndToken)
        {
            throw new InvalidDataException($"Vocabulary token {ImEndTokenId} is not {ImEndToken}; is this the Qwen2 vocab?");
        }

        var metadata = new GgufMetadata();
        metadata.Set("general.architecture", GgufValue.String("llama"));
        metadata.Set("general.type", GgufValue.String("model"));
        metadata.Set("general.name", GgufValue.String($"tiny-random-{_shape.Name}"));
        metadata.Set("general.description", GgufValue.String(
            $"Random weights (seed {_seed}, generator v{GeneratorVersion}) with the Qwen2 tokenizer; " +
            "for testing only, produces gibberish."));
        metadata.Set("general.file_type", GgufValue.UInt32(_type == GgmlType.F16 ? FileTypeMostlyF16 : FileTypeAllF32));
        metadata.Set(GgufWriter.AlignmentKey, GgufValue.UInt32(Alignment));

        metadata.Set("llama.vocab_size", GgufValue.UInt32((uint)tokens.Length));
        metadata.Set("llama.context_length", GgufValue.UInt32((uint)_shape.ContextLength));
        metadata.Set("llama.embedding_length", GgufValue.UInt32((uint)_shape.EmbeddingLength));
        metadata.Set("llama.block_count", GgufValue.UInt32((uint)_shape.BlockCount));
        metadata.Set("llama.feed_forward_length", GgufValue.UInt32((uint)_shape.FeedForwardLength));
        metadata.Set("llama.attention.head_count", GgufValue.UInt32((uint)_shape.HeadCount));
        metadata.Set("llama.attention.head_count_kv", GgufValue.UInt32((uint)_shape.HeadCountKv));
        metadata.Set("llama.attention.layer_norm_rms_epsilon", GgufValue.Float32(RmsNormEpsilon));
        metadata.Set("llama.rope.freq_base", GgufValue.Float32(RopeFreqBase));
        metadata.Set("llama.rope.dimension_count", GgufValue.UInt32((uint)_shape.HeadDim));

        // Copy the whole tokenizer (model, pre-tokenizer, tokens, types, merges, special ids, flags) so text
        // tokenizes exactly as with a real Qwen2.5 model; only EOS and the chat template are ours.
        foreach (var (key, value) in _vocab.Entries)
        {
            if (key.StartsWith("tokenizer.", StringComparison.Ordinal))
            {
                metadata.Set(key, value);
            }
        }

        metadata.Set("tokenizer.ggml.eos_token_id", GgufValue.UInt32((uint)ImEndTokenId));
        metadata.Set("tokenizer.chat_template", GgufValue.String(ChatTemplate.Load()));
        return metadata;
    }

    public IReadOnlyList<GgufTensor> BuildTensors()
    {
        long embd = _shape.EmbeddingLength;
        long kv = _shape.KvLength;
        long ff = _shape.FeedForwardLength;
        var tensors = new List<GgufTensor>
        {
            // No output.weight: llama.cpp then ties the LM head to token_embd, halving the file size.
            Matrix("token_embd.weight", embd, VocabSize),
            Norm("output_norm.weight", embd),
        };

        for (int i = 0; i < _shape.BlockCount; i++)
        {
            string p = $"blk.{i}.";
            tensors.Add(Norm(p + "attn_norm.weight", embd));
            tensors.Add(Matrix(p + "attn_q.weight", embd, embd));
            tensors.Add(Matrix(p + "attn_k.weight", embd, kv));
            tensors.Add(Matrix(p + "attn_v.weight", embd, kv));
            tensors.Add(Matrix(p + "attn_output.weight", embd, embd));
            tensors.Add(Norm(p + "ffn_norm.weight", embd));
            tensors.Add(Matrix(p + "ffn_gate.weight", embd, ff));
            tensors.Add(Matrix(p + "ffn_up.weight", embd, ff));
            tensors.Add(Matrix(p + "ffn_down.weight", ff, embd));
        }

        return tensors;
    }

    // ggml shape order: {inputs, outputs}, i.e. the first dimension is the contiguous one.
    private GgufTensor Matrix(string name, long inputs, long outputs) =>
        new(name, [inputs, outputs], _type, TensorData.Normal(_seed, name, inputs * outputs, WeightStd, _type));

    // Norm weights stay F32 whatever the matrix type, as llama.cpp's converters do: they are tiny and ggml's
    // element-wise ops are most widely supported in F32.
    private static GgufTensor Norm(string name, long length) =>
        new(name, [length], GgmlType.F32, TensorData.Constant(1.0f, length, GgmlType.F32));
}
