from triton_openai.launch.cli import main

main()
